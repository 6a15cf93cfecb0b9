"""Checking an attestation without trusting whoever produced it.

A third party runs this with ``lib/`` and the listed libraries only (no Dagster, no
instance). :func:`verify_attestation` takes the DSSE envelope bytes, the EIP-712 JSON and
the attester's published public keys (``attester.json``, from a copy the verifier trusts)
and runs these checks, in this order, each under a stable name:

=====================  ==================================================================
``envelope_format``    the envelope is RFC 8785 JSON with exactly ``payload``,
                       ``payloadType`` (in-toto) and ``signatures``, canonical base64
``envelope_signature`` an Ed25519 signature over DSSE PAE by the trusted key (key id and
                       signature must both match)
``statement_format``   the payload is the RFC 8785 bytes of an in-toto Statement v1 of our
                       predicate type whose subjects agree with the predicate
``delta_arithmetic``   every metric's deltas, direction and direction-aware delta
                       (``lib/delta.py`` rules, recomputed from the recorded values), the
                       normalised weights, the primary delta and ``delta_one_score``
``bps_rounding``       ``delta_one_bps`` = round-half-even(score × 10 000) if accepted, else 0
``decision_rule``      ``accepted`` = ci_lower > 0 and primary_delta >= min_improvement and
                       benchmark_rows >= min_benchmark_rows (and the reasons agree)
``eip712_signature``   the signer recovered from the typed data is the trusted attester
``eip712_binding``     the signed message is what the statement says (wallet, statement
                       digest, data root, model digest, bps, nonce; published domain)
``model_digest``       (with ``model_file``) its SHA-256 is ``improved.model_digest``
``data_file``          (with ``data_file``) its SHA-256 is ``contribution.file_digest``, or
                       it is a table whose data root over ``task.columns`` is
                       ``contribution.data_root``
=====================  ==================================================================

Every check runs when what it needs is available; a check whose input could not be read
(say, the statement when the envelope is not JSON) fails as "not checked". The report is
valid only when every check passed; ``first_failure`` names the first that did not.
Without ``trusted`` both signature checks fail: a signature proves nothing unless the
verifier knows whose key to expect.

:func:`prove_row` and :func:`verify_row_proof` give and check an RFC 6962 inclusion proof
of one canonical row in a ``data_root``, so a contributor can show one row was counted
without revealing any other.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hmac
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hokusai_assets.lib.attestation.signing import (
    PAYLOAD_TYPE,
    Eip712Domain,
    ed25519_keyid,
    eip712_message,
    pae,
    recover_eip712_signer,
)
from hokusai_assets.lib.attestation.statement import DATA_ROOT_ALGORITHM, PREDICATE_TYPE, STATEMENT_TYPE
from hokusai_assets.lib.commitments.canonical import canonical_json, canonical_row_bytes
from hokusai_assets.lib.commitments.digests import SHA256_PREFIX, bytes_digest, file_digest, parse_digest
from hokusai_assets.lib.commitments.merkle import (
    data_root,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    sorted_leaves,
    verify_inclusion,
)
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.evaluation.delta import ACCEPTED_REASON, COMPUTATION_METHOD, direction_aware_delta, score_to_bps
from hokusai_assets.lib.evaluation.metrics import HIGHER_IS_BETTER
from hokusai_assets.lib.intake.formats import read_table
from hokusai_assets.lib.wallet import normalise_wallet

__all__ = [
    "CHECK_NAMES",
    "SCORE_REL_TOLERANCE",
    "Check",
    "VerificationReport",
    "VerifyError",
    "prove_row",
    "verify_attestation",
    "verify_row_proof",
]

CHECK_NAMES = (
    "envelope_format",
    "envelope_signature",
    "statement_format",
    "delta_arithmetic",
    "bps_rounding",
    "decision_rule",
    "eip712_signature",
    "eip712_binding",
    "model_digest",
    "data_file",
)
# delta_one_score is a sum whose order the verifier cannot know (RFC 8785 sorts the
# metrics), so it is compared with this relative tolerance, scaled by the sum of the
# terms' magnitudes (the bound on reordering error); every other value is recomputed
# exactly, with the same IEEE operations lib/delta.py uses.
SCORE_REL_TOLERANCE = 1e-12

_PARTITION_RE = re.compile(r"c-[0-9a-f]{16}")
_B64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_EIP712_KEYS = {"types", "primaryType", "domain", "message", "signature", "signer"}
_METRIC_KEYS = {
    "baseline_value",
    "new_value",
    "absolute_delta",
    "relative_delta",
    "higher_is_better",
    "improvement",
    "direction_aware_delta",
}


class VerifyError(HokusaiError):
    """A row proof cannot be built as asked."""

    code = "E_VERIFY"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class VerificationReport:
    checks: list[Check] = field(default_factory=list)
    # The statement as decoded from the envelope (None when it could not be read); for
    # display only: it is trustworthy only if the report is ok.
    statement: dict | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((check for check in self.checks if not check.ok), None)

    def as_dict(self) -> dict[str, Any]:
        failure = self.first_failure
        return {
            "ok": self.ok,
            "first_failure": failure.name if failure else None,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


class _Failed(Exception):
    """A check's verdict: not ok, with the reason."""


def _require(condition: bool, detail: str) -> None:
    if not condition:
        raise _Failed(detail)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _b64decode(text: Any, what: str) -> bytes:
    """Strict standard base64: only the canonical encoding of some bytes is accepted."""
    _require(isinstance(text, str) and _B64_RE.fullmatch(text) is not None, f"{what} is not base64 text")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _Failed(f"{what} is not valid base64") from None
    _require(base64.b64encode(data).decode("ascii") == text, f"{what} is not canonical (padded, standard) base64")
    return data


# --------------------------------------------------------------------------- the checks


@dataclass
class _Context:
    envelope_bytes: bytes
    eip712: Any
    trusted: Mapping[str, Any] | None
    data_file: Path | None
    model_file: Path | None
    envelope: dict | None = None
    payload: bytes | None = None
    decoded: dict | None = None  # the payload as JSON, well-formed or not
    statement: dict | None = None  # set once statement_format passed


def _check_envelope_format(ctx: _Context) -> str:
    try:
        envelope = json.loads(ctx.envelope_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Failed(f"the envelope is not UTF-8 JSON ({exc})") from None
    _require(isinstance(envelope, dict), "the envelope is not a JSON object")
    _require(
        set(envelope) == {"payload", "payloadType", "signatures"},
        f"the envelope must have exactly payload, payloadType and signatures, has {sorted(envelope)}",
    )
    try:
        canonical = canonical_json(envelope)
    except HokusaiError as exc:
        raise _Failed(f"the envelope cannot be canonicalised: {exc.message}") from None
    _require(canonical == ctx.envelope_bytes, "the envelope bytes are not RFC 8785 canonical JSON")
    _require(
        envelope["payloadType"] == PAYLOAD_TYPE,
        f"payloadType is {envelope['payloadType']!r}, expected {PAYLOAD_TYPE!r}",
    )
    payload = _b64decode(envelope["payload"], "payload")
    signatures = envelope["signatures"]
    _require(isinstance(signatures, list) and signatures, "signatures must be a non-empty list")
    for number, entry in enumerate(signatures):
        _require(
            isinstance(entry, dict) and set(entry) == {"keyid", "sig"} and isinstance(entry["keyid"], str),
            f"signature {number} must have exactly a string keyid and a sig",
        )
        signature = _b64decode(entry["sig"], f"signature {number}")
        _require(len(signature) == 64, f"signature {number} is not 64 bytes (Ed25519)")
    ctx.envelope, ctx.payload = envelope, payload
    return f"DSSE envelope, {len(payload)}-byte payload, {len(signatures)} signature(s)"


def _check_envelope_signature(ctx: _Context) -> str:
    trusted = ctx.trusted
    _require(
        trusted is not None,
        "no trusted attester keys given: pass the published attester.json to check the Ed25519 signature",
    )
    try:
        public = bytes.fromhex(trusted["ed25519_public_key"])
    except (KeyError, TypeError, ValueError):
        raise _Failed("the trusted attester info has no valid ed25519_public_key (64 hex digits)") from None
    _require(len(public) == 32, "the trusted ed25519_public_key is not 32 bytes")
    keyid = ed25519_keyid(public)
    _require(
        trusted.get("ed25519_keyid", keyid) == keyid,
        f"the trusted attester info is inconsistent: ed25519_keyid {trusted.get('ed25519_keyid')!r} is not "
        f"the key id of its public key ({keyid})",
    )
    entries = [entry for entry in ctx.envelope["signatures"] if entry["keyid"] == keyid]
    _require(
        bool(entries),
        f"no signature by the trusted key {keyid} (the envelope names "
        f"{', '.join(e['keyid'] for e in ctx.envelope['signatures'])})",
    )
    verifier = Ed25519PublicKey.from_public_bytes(public)
    message = pae(ctx.envelope["payloadType"], ctx.payload)
    for entry in entries:
        try:
            verifier.verify(base64.b64decode(entry["sig"]), message)
            return f"Ed25519 signature by {keyid} over DSSE PAE verifies"
        except InvalidSignature:
            continue
    raise _Failed(f"the Ed25519 signature by {keyid} does not verify: the payload or signature was changed")


def _digest(value: Any, where: str) -> bytes:
    try:
        return parse_digest(value)
    except HokusaiError:
        raise _Failed(f"{where} is not a sha256:<64 hex> digest: {value!r}") from None


def _mapping(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = parent.get(key)
    _require(isinstance(value, dict), f"{where}.{key} is missing or not an object")
    return value


def _check_statement_format(ctx: _Context) -> str:
    try:
        statement = json.loads(ctx.payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Failed(f"the payload is not UTF-8 JSON ({exc})") from None
    _require(isinstance(statement, dict), "the statement is not a JSON object")
    ctx.decoded = statement
    try:
        canonical = canonical_json(statement)
    except HokusaiError as exc:
        raise _Failed(f"the statement cannot be canonicalised: {exc.message}") from None
    _require(canonical == ctx.payload, "the payload is not the RFC 8785 bytes of the statement")
    _require(statement.get("_type") == STATEMENT_TYPE, f"_type is {statement.get('_type')!r}, expected {STATEMENT_TYPE}")
    _require(
        statement.get("predicateType") == PREDICATE_TYPE,
        f"predicateType is {statement.get('predicateType')!r}, expected {PREDICATE_TYPE}",
    )
    predicate = _mapping(statement, "predicate", "statement")
    missing = sorted(
        {"task", "contribution", "baseline", "improved", "benchmark", "evaluation", "config_digest", "code_version", "seed"}
        - set(predicate)
    )
    _require(not missing, f"the predicate lacks {', '.join(missing)}")
    task = _mapping(predicate, "task", "predicate")
    contribution = _mapping(predicate, "contribution", "predicate")
    improved = _mapping(predicate, "improved", "predicate")
    baseline = _mapping(predicate, "baseline", "predicate")
    benchmark = _mapping(predicate, "benchmark", "predicate")
    evaluation = _mapping(predicate, "evaluation", "predicate")
    model = _digest(improved.get("model_digest"), "improved.model_digest")
    root = _digest(contribution.get("data_root"), "contribution.data_root")
    _digest(contribution.get("file_digest"), "contribution.file_digest")
    _digest(baseline.get("model_digest"), "baseline.model_digest")
    _digest(benchmark.get("data_root"), "benchmark.data_root")
    _digest(predicate.get("config_digest"), "config_digest")
    partition = contribution.get("partition")
    _require(isinstance(partition, str) and _PARTITION_RE.fullmatch(partition) is not None,
             f"contribution.partition {partition!r} is not c-<16 hex>")
    wallet = contribution.get("wallet")
    try:
        _require(isinstance(wallet, str) and normalise_wallet(wallet) == wallet, "")
    except (HokusaiError, _Failed):
        raise _Failed(f"contribution.wallet {wallet!r} is not an EIP-55 address") from None
    _require(
        evaluation.get("task_type") == task.get("type"),
        f"evaluation.task_type {evaluation.get('task_type')!r} differs from task.type {task.get('type')!r}",
    )
    expected_subjects = [
        {"name": f"model:{task.get('name')}:{partition}", "digest": {"sha256": model.hex()}},
        {"name": f"data:{partition}", "digest": {DATA_ROOT_ALGORITHM: root.hex()}},
    ]
    subjects = statement.get("subject")
    _require(isinstance(subjects, list) and len(subjects) == 2, "the statement must have exactly two subjects")
    _require(
        subjects[0] == expected_subjects[0],
        "subject[0] is not the improved model (sha256 == predicate.improved.model_digest)",
    )
    _require(
        subjects[1] == expected_subjects[1],
        f"subject[1] is not the contribution ({DATA_ROOT_ALGORITHM} == predicate.contribution.data_root)",
    )
    ctx.statement = statement  # only a well-formed statement reaches the later checks
    return f"in-toto Statement v1, {PREDICATE_TYPE}, subjects match the predicate"


def _evaluation(ctx: _Context) -> Mapping[str, Any]:
    return ctx.statement["predicate"]["evaluation"]


def _same(recorded: Any, recomputed: Any) -> bool:
    """Exact equality of a recorded JSON value with its recomputation (0 == 0.0; bools are
    not numbers; None only equals None)."""
    if isinstance(recomputed, bool) or recomputed is None:
        return recorded is recomputed
    return _is_number(recorded) and recorded == recomputed


def _check_delta_arithmetic(ctx: _Context) -> str:
    evaluation = _evaluation(ctx)
    deltas = evaluation.get("metric_deltas")
    weights = evaluation.get("weights")
    _require(isinstance(deltas, dict) and deltas, "evaluation.metric_deltas is missing or empty")
    _require(
        evaluation.get("computation_method") == COMPUTATION_METHOD,
        f"computation_method is {evaluation.get('computation_method')!r}, expected {COMPUTATION_METHOD!r}",
    )
    _require(
        isinstance(weights, dict) and set(weights) == set(deltas),
        "evaluation.weights must name exactly the metrics of metric_deltas",
    )
    for metric, weight in weights.items():
        _require(_is_number(weight) and weight >= 0, f"weight of {metric} is {weight!r}, not a number >= 0")
    total = math.fsum(weights.values())
    _require(abs(total - 1.0) <= 1e-12, f"the weights sum to {total!r}, not 1 (they must be normalised)")

    for metric in sorted(deltas):
        entry = deltas[metric]
        _require(metric in HIGHER_IS_BETTER, f"unknown metric {metric!r}")
        _require(isinstance(entry, dict) and set(entry) == _METRIC_KEYS,
                 f"metric_deltas.{metric} must have exactly {', '.join(sorted(_METRIC_KEYS))}")
        base, new = entry["baseline_value"], entry["new_value"]
        _require(_is_number(base) and _is_number(new), f"{metric}: baseline_value and new_value must be finite numbers")
        higher = HIGHER_IS_BETTER[metric]
        expected = {
            "absolute_delta": new - base,
            "relative_delta": None if base == 0 else (new - base) / abs(base),
            "higher_is_better": higher,
            "improvement": new > base if higher else new < base,
            "direction_aware_delta": direction_aware_delta(metric, base, new),
        }
        for key, value in expected.items():
            _require(
                _same(entry[key], value),
                f"{metric}.{key} is {entry[key]!r} but the recorded values ({base!r} -> {new!r}) give {value!r}",
            )

    primary = evaluation.get("primary_metric")
    _require(primary in deltas, f"primary_metric {primary!r} is not among the metric deltas")
    primary_delta = deltas[primary]["direction_aware_delta"]
    _require(
        _same(evaluation.get("primary_delta"), primary_delta),
        f"primary_delta is {evaluation.get('primary_delta')!r}, but {primary}'s direction-aware delta is {primary_delta!r}",
    )
    terms = [weights[m] * deltas[m]["direction_aware_delta"] for m in sorted(deltas)]
    score = math.fsum(terms)
    recorded = evaluation.get("delta_one_score")
    _require(_is_number(recorded), f"delta_one_score is {recorded!r}, not a finite number")
    tolerance = SCORE_REL_TOLERANCE * max(abs(score), math.fsum(abs(t) for t in terms))
    _require(
        abs(recorded - score) <= tolerance,
        f"delta_one_score is {recorded!r} but the weighted mean of the direction-aware deltas is {score!r}",
    )
    return f"{len(deltas)} metric(s) and delta_one_score {recorded!r} recomputed"


def _accepted(evaluation: Mapping[str, Any]) -> bool:
    accepted = evaluation.get("accepted")
    _require(isinstance(accepted, bool), f"accepted is {accepted!r}, not true or false")
    return accepted


def _check_bps_rounding(ctx: _Context) -> str:
    evaluation = _evaluation(ctx)
    accepted = _accepted(evaluation)
    score, bps = evaluation.get("delta_one_score"), evaluation.get("delta_one_bps")
    _require(_is_number(score), f"delta_one_score is {score!r}, not a finite number")
    _require(_is_int(bps), f"delta_one_bps is {bps!r}, not an integer")
    expected = score_to_bps(score) if accepted else 0
    rule = "round-half-even(delta_one_score x 10000)" if accepted else "0 (not accepted)"
    _require(bps == expected, f"delta_one_bps is {bps}, expected {expected} = {rule}")
    return f"delta_one_bps {bps} = {rule}"


def _check_decision_rule(ctx: _Context) -> str:
    predicate = ctx.statement["predicate"]
    evaluation = _evaluation(ctx)
    accepted = _accepted(evaluation)
    significance = evaluation.get("significance")
    _require(isinstance(significance, dict), "evaluation.significance is missing")
    ci_lower = significance.get("ci_lower")
    primary_delta = evaluation.get("primary_delta")
    min_improvement = evaluation.get("min_improvement")
    rows, min_rows = evaluation.get("benchmark_rows"), evaluation.get("min_benchmark_rows")
    numbers = {"significance.ci_lower": ci_lower, "primary_delta": primary_delta, "min_improvement": min_improvement}
    for name, value in numbers.items():
        _require(_is_number(value), f"{name} is {value!r}, not a finite number")
    _require(_is_int(rows) and _is_int(min_rows), "benchmark_rows and min_benchmark_rows must be integers")
    _require(
        rows == predicate["benchmark"].get("rows"),
        f"evaluation.benchmark_rows {rows} differs from benchmark.rows {predicate['benchmark'].get('rows')!r}",
    )
    conditions = {
        f"ci_lower {ci_lower!r} > 0": ci_lower > 0,
        f"primary_delta {primary_delta!r} >= min_improvement {min_improvement!r}": primary_delta >= min_improvement,
        f"benchmark_rows {rows} >= min_benchmark_rows {min_rows}": rows >= min_rows,
    }
    expected = all(conditions.values())
    failed = [text for text, holds in conditions.items() if not holds]
    _require(
        accepted == expected,
        f"accepted is {accepted} but the rule gives {expected}"
        + (f" ({'; '.join(failed)} fails)" if failed else " (all conditions hold)"),
    )
    reasons = evaluation.get("decision_reasons")
    _require(
        isinstance(reasons, list) and all(isinstance(r, str) for r in reasons),
        "decision_reasons is not a list of strings",
    )
    if accepted:
        _require(reasons == [ACCEPTED_REASON], f"accepted, yet decision_reasons is {reasons!r}")
    else:
        _require(
            len(reasons) == len(failed) and ACCEPTED_REASON not in reasons,
            f"{len(failed)} condition(s) fail but decision_reasons lists {len(reasons)}",
        )
    return "accepted" if accepted else f"rejected: {'; '.join(failed)} fails"


def _check_eip712_signature(ctx: _Context) -> str:
    eip712 = ctx.eip712
    _require(isinstance(eip712, Mapping) and set(eip712) == _EIP712_KEYS,
             f"the EIP-712 JSON must have exactly {', '.join(sorted(_EIP712_KEYS))}")
    try:
        signer = recover_eip712_signer(eip712, eip712["signature"])
    except HokusaiError as exc:
        raise _Failed(exc.message) from None
    _require(
        eip712["signer"] == signer,
        f"the signature recovers to {signer}, not to the named signer {eip712['signer']!r}",
    )
    _require(
        ctx.trusted is not None,
        f"no trusted attester keys given: pass the published attester.json to check the signer ({signer})",
    )
    expected = ctx.trusted.get("attester_address")
    _require(signer == expected, f"the EIP-712 signer is {signer}, not the trusted attester {expected!r}")
    return f"signed by the attester {signer}"


def _check_eip712_binding(ctx: _Context) -> str:
    eip712 = ctx.eip712
    _require(isinstance(eip712, Mapping), "the EIP-712 JSON is not an object")
    try:
        domain = Eip712Domain.from_typed_data(eip712.get("domain"))
    except HokusaiError as exc:
        raise _Failed(exc.message) from None
    published = (ctx.trusted or {}).get("eip712_domain")
    _require(
        published is None or eip712.get("domain") == published,
        f"the signed domain {eip712.get('domain')!r} is not the attester's published domain {published!r}",
    )
    try:
        expected = eip712_message(ctx.statement, bytes_digest(ctx.payload), domain)
    except HokusaiError as exc:
        raise _Failed(f"the statement gives no EIP-712 message: {exc.message}") from None
    _require(eip712.get("types") == expected["types"] and eip712.get("primaryType") == expected["primaryType"],
             "the EIP-712 types are not the DeltaOneAttestation schema")
    message = eip712.get("message")
    _require(isinstance(message, Mapping), "the EIP-712 message is not an object")
    wrong = [
        f"{key}: signed {message.get(key)!r}, statement says {value!r}"
        for key, value in expected["message"].items()
        if message.get(key) != value or type(message.get(key)) is not type(value)
    ]
    extra = sorted(set(message) - set(expected["message"]))
    _require(not wrong and not extra, "; ".join(wrong + [f"unexpected field {k}" for k in extra]))
    source = "the published domain" if published is not None else "the domain as signed (no published domain to compare)"
    return f"the signed message matches the statement; {source}"


def _check_model_digest(ctx: _Context) -> str:
    path = Path(ctx.model_file)
    _require(path.is_file(), f"model file {path} not found")
    digest = file_digest(path)
    predicate = ctx.statement["predicate"]
    expected = predicate["improved"]["model_digest"]
    if digest != expected and digest == predicate["baseline"].get("model_digest"):
        raise _Failed(f"{path.name} is the baseline model ({digest}), not the improved model {expected}")
    _require(digest == expected, f"{path.name} has digest {digest}, the statement's improved model is {expected}")
    return f"{path.name} is the improved model ({digest})"


def _check_data_file(ctx: _Context) -> str:
    path = Path(ctx.data_file)
    _require(path.is_file(), f"data file {path} not found")
    predicate = ctx.statement["predicate"]
    contribution = predicate["contribution"]
    digest = file_digest(path)
    if digest == contribution["file_digest"]:
        return f"{path.name} is the received file ({digest})"
    columns = predicate["task"].get("columns")
    _require(
        isinstance(columns, list) and columns and all(isinstance(c, str) for c in columns),
        f"{path.name} is not the received file ({digest} != {contribution['file_digest']}), and the statement "
        "records no task.columns to recompute a data root over",
    )
    try:
        root = data_root(read_table(path), columns)
    except HokusaiError as exc:
        raise _Failed(
            f"{path.name} is not the received file ({digest}) and its data root cannot be computed: {exc.message}"
        ) from None
    _require(
        root == contribution["data_root"],
        f"{path.name}: neither its digest ({digest}) is contribution.file_digest nor its data root over "
        f"{len(columns)} committed column(s) ({root}) is contribution.data_root ({contribution['data_root']})",
    )
    return f"{path.name} holds the committed rows (data root {root})"


_Step = tuple[str, Callable[[_Context], str], Callable[[_Context], str | None]]


def _needs(attribute: str, check: str) -> Callable[[_Context], str | None]:
    return lambda ctx: None if getattr(ctx, attribute) is not None else f"not checked: {check} failed"


def _after_statement(ctx: _Context) -> str | None:
    if ctx.payload is None:
        return "not checked: envelope_format failed"
    return _needs("statement", "statement_format")(ctx)


_STEPS: list[_Step] = [
    ("envelope_format", _check_envelope_format, lambda ctx: None),
    ("envelope_signature", _check_envelope_signature, _needs("envelope", "envelope_format")),
    ("statement_format", _check_statement_format, _needs("payload", "envelope_format")),
    ("delta_arithmetic", _check_delta_arithmetic, _after_statement),
    ("bps_rounding", _check_bps_rounding, _after_statement),
    ("decision_rule", _check_decision_rule, _after_statement),
    ("eip712_signature", _check_eip712_signature, lambda ctx: None),
    ("eip712_binding", _check_eip712_binding, _after_statement),
    ("model_digest", _check_model_digest, _after_statement),
    ("data_file", _check_data_file, _after_statement),
]


def verify_attestation(
    envelope_bytes: bytes,
    eip712: Mapping[str, Any],
    *,
    trusted: Mapping[str, Any] | None = None,
    data_file: Path | None = None,
    model_file: Path | None = None,
) -> VerificationReport:
    """Run every check (see the module docstring) and return the ordered report.

    ``trusted`` is the attester's public info (``attester.json``,
    :meth:`~hokusai_assets.lib.attestation.signing.AttesterKeys.public_info`). ``model_digest`` and
    ``data_file`` run only when their file is given. Never raises on bad input: anything
    unreadable is a failed check that says why.
    """
    ctx = _Context(bytes(envelope_bytes), eip712, trusted, data_file, model_file)
    report = VerificationReport()
    for name, run, blocked in _STEPS:
        if name == "model_digest" and model_file is None or name == "data_file" and data_file is None:
            continue
        reason = blocked(ctx)
        if reason is not None:
            report.checks.append(Check(name, False, reason))
            continue
        try:
            report.checks.append(Check(name, True, run(ctx)))
        except _Failed as failed:
            report.checks.append(Check(name, False, str(failed)))
        except Exception as exc:  # noqa: BLE001 - hostile input gets a verdict, never a traceback
            report.checks.append(Check(name, False, f"cannot be checked: {type(exc).__name__}: {exc}"))
    report.statement = ctx.decoded
    return report


# --------------------------------------------------------------------------- row proofs


def _row_object(row: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """The committed part of ``row``; a float NaN is a missing cell, as in a frame."""
    missing = [c for c in columns if c not in row]
    if missing:
        raise VerifyError(
            f"the row lacks the committed column(s) {', '.join(map(repr, missing))}; give the row "
            "with every committed column, as it was committed (after pseudonymisation)",
            code="E_VERIFY_ROW_COLUMNS",
        )
    return {c: None if isinstance(row[c], float) and math.isnan(row[c]) else row[c] for c in columns}


def prove_row(
    rows_frame_or_leaves: pd.DataFrame | Sequence[bytes], row: Mapping[str, Any], columns: Sequence[str]
) -> dict[str, Any]:
    """An RFC 6962 inclusion proof that ``row`` is one of the committed rows.

    ``rows_frame_or_leaves`` is the committed frame or its leaf hashes (any order). The
    proof holds the committed ``columns``, the row's ``leaf`` (hex), its ``index`` in the
    sorted leaves, the ``tree_size``, the ``audit_path`` (hex, bottom-up) and the ``root``
    (``sha256:<hex>``, the ``data_root``); it reveals no other row, only sibling hashes.
    """
    columns = list(columns)
    if isinstance(rows_frame_or_leaves, pd.DataFrame):
        leaves = sorted_leaves(rows_frame_or_leaves, columns)
    else:
        leaves = sorted(bytes(leaf) for leaf in rows_frame_or_leaves)
        if any(len(leaf) != 32 for leaf in leaves):
            raise VerifyError("every leaf must be a 32-byte SHA-256 hash", code="E_VERIFY_BAD_LEAF")
    leaf = leaf_hash(canonical_row_bytes(_row_object(row, columns)))
    index = bisect.bisect_left(leaves, leaf)
    if index == len(leaves) or leaves[index] != leaf:
        raise VerifyError(
            "the row is not among the committed rows: check every value and its type (1 and "
            "1.0 are equal, \"1\" is not) and that it is given as committed (after pseudonymisation)",
            code="E_VERIFY_ROW_NOT_FOUND",
        )
    return {
        "columns": columns,
        "leaf": leaf.hex(),
        "index": index,
        "tree_size": len(leaves),
        "audit_path": [node.hex() for node in inclusion_proof(leaves, index)],
        "root": SHA256_PREFIX + merkle_root(leaves).hex(),
    }


def verify_row_proof(
    proof: Mapping[str, Any],
    row: Mapping[str, Any],
    expected_root: str,
    *,
    columns: Sequence[str] | None = None,
    tree_size: int | None = None,
) -> bool:
    """True if ``proof`` shows that ``row`` (its committed columns) is a leaf of the tree
    whose head is ``expected_root`` (e.g. the statement's ``contribution.data_root``).

    ``columns`` (the statement's ``task.columns``) and ``tree_size`` (its
    ``contribution.rows``), when given, must be the proof's. Pass them: the hashes bind
    the row to the root, but not the claimed size, which the audit path alone cannot pin
    down. Never raises: a malformed proof is simply not valid.
    """
    try:
        proof_columns = list(proof["columns"])
        if columns is not None and list(columns) != proof_columns:
            return False
        if tree_size is not None and proof["tree_size"] != tree_size:
            return False
        leaf = leaf_hash(canonical_row_bytes(_row_object(row, proof_columns)))
        if not hmac.compare_digest(leaf.hex(), str(proof["leaf"])) or proof["root"] != expected_root:
            return False
        index, size = proof["index"], proof["tree_size"]
        if not (_is_int(index) and _is_int(size)):
            return False
        path = [bytes.fromhex(node) for node in proof["audit_path"]]
        if any(len(node) != 32 for node in path):
            return False
        return verify_inclusion(leaf, index, size, path, parse_digest(expected_root))
    except (HokusaiError, KeyError, TypeError, ValueError, AttributeError):
        return False
