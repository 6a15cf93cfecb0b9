"""Checking an attestation without trusting whoever produced it: the checks, in order.

A third party runs this with ``lib/`` and the listed libraries only (no Dagster, no
instance). :func:`verify_attestation` takes the DSSE envelope bytes, the EIP-712 JSON and
the attester's published public keys (``attester.json``, from a copy the verifier trusts)
and runs these checks, in this order, each under a stable name:

=====================  ==================================================================
``envelope_format``    the envelope is RFC 8785 JSON with exactly ``payload``,
                       ``payloadType`` (in-toto) and ``signatures``, canonical base64
``envelope_signature`` exactly one signature: Ed25519 over DSSE PAE by the trusted key (key
                       id and signature must both match); any other entry (unknown key id,
                       repeated key id or sig, forgery) fails, named by its position
``statement_format``   the payload is the RFC 8785 bytes of an in-toto Statement v1 of our
                       predicate type whose subjects agree with the predicate
``delta_arithmetic``   every metric's deltas, direction and direction-aware delta
                       (``lib/evaluation/delta.py`` rules, recomputed from the recorded values), the
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

``proofs.py``'s :func:`prove_row` and :func:`verify_row_proof` give and check an RFC 6962 inclusion proof
of one canonical row in a ``data_root``, so a contributor can show one row was counted
without revealing any other.
"""


from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hokusai_assets.lib.attestation.verify.base import Check, Context, Failed, VerificationReport
from hokusai_assets.lib.attestation.verify.evaluation_checks import (
    check_bps_rounding,
    check_decision_rule,
    check_delta_arithmetic,
)
from hokusai_assets.lib.attestation.verify.file_checks import check_data_file, check_model_digest
from hokusai_assets.lib.attestation.verify.signed_checks import (
    check_eip712_binding,
    check_eip712_signature,
    check_envelope_format,
    check_envelope_signature,
    check_statement_format,
)

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

_Step = tuple[str, Callable[[Context], str], Callable[[Context], str | None]]


def _needs(attribute: str, check: str) -> Callable[[Context], str | None]:
    return lambda ctx: None if getattr(ctx, attribute) is not None else f"not checked: {check} failed"


def _after_statement(ctx: Context) -> str | None:
    if ctx.payload is None:
        return "not checked: envelope_format failed"
    return _needs("statement", "statement_format")(ctx)


_STEPS: list[_Step] = [
    ("envelope_format", check_envelope_format, lambda ctx: None),
    ("envelope_signature", check_envelope_signature, _needs("envelope", "envelope_format")),
    ("statement_format", check_statement_format, _needs("payload", "envelope_format")),
    ("delta_arithmetic", check_delta_arithmetic, _after_statement),
    ("bps_rounding", check_bps_rounding, _after_statement),
    ("decision_rule", check_decision_rule, _after_statement),
    ("eip712_signature", check_eip712_signature, lambda ctx: None),
    ("eip712_binding", check_eip712_binding, _after_statement),
    ("model_digest", check_model_digest, _after_statement),
    ("data_file", check_data_file, _after_statement),
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
    ctx = Context(bytes(envelope_bytes), eip712, trusted, data_file, model_file)
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
        except Failed as failed:
            report.checks.append(Check(name, False, str(failed)))
        except Exception as exc:  # noqa: BLE001 - hostile input gets a verdict, never a traceback
            report.checks.append(Check(name, False, f"cannot be checked: {type(exc).__name__}: {exc}"))
    report.statement = ctx.decoded
    return report
