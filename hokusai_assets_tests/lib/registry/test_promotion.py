"""The registry's rules (lib/registry/promotion.py), without MLflow."""

import pytest

from hokusai_assets.lib.registry.promotion import (
    PromotionEvidence,
    RegistryError,
    audit_record,
    check_environment_alias,
    previous_after_rollback,
    promotion_refusals,
    require_who_and_why,
    versions_by_alias,
)

GOOD = PromotionEvidence(attestation_verified=True, delta_accepted=True)


def test_a_verified_accepted_version_may_be_promoted():
    assert promotion_refusals(GOOD, None) == [] == promotion_refusals(GOOD, "true")


@pytest.mark.parametrize(
    "evidence, tag, says",
    [
        (PromotionEvidence(False, True), None, "attestation has not been verified"),
        (PromotionEvidence(True, False), None, "delta was not accepted"),
        (GOOD, "false", "records its delta as rejected"),
        (PromotionEvidence(True, True, require_approval=True), None, "requires a human approval"),
    ],
)
def test_each_missing_piece_of_evidence_is_a_named_refusal(evidence, tag, says):
    [refusal] = promotion_refusals(evidence, tag)
    assert says in refusal


def test_approval_satisfies_the_approval_rule():
    assert promotion_refusals(PromotionEvidence(True, True, require_approval=True, approved=True), None) == []


def test_every_failure_is_listed_not_just_the_first():
    assert len(promotion_refusals(PromotionEvidence(False, False, require_approval=True), None)) == 3


@pytest.mark.parametrize("actor, reason", [("", "why"), ("alice", "  "), (None, None)])
def test_who_and_why_are_required(actor, reason):
    with pytest.raises(RegistryError) as error:
        require_who_and_why("a promotion", actor, reason)
    assert error.value.code == "E_REGISTRY_REFUSED"


def test_a_rollback_walks_back_and_never_points_at_itself():
    assert previous_after_rollback("2", "1", "3") == "1"
    assert previous_after_rollback("2", None, "3") is None
    assert previous_after_rollback("2", "", "3") is None
    assert previous_after_rollback("2", "2", "3") is None
    assert previous_after_rollback("2", "3", "3") is None  # would toggle between two versions


def test_audit_record_and_alias_index():
    record = audit_record("promote", "refused", "m", "alice", "why", "2026-01-01T00:00:00+00:00", to_version="3")
    assert record == {
        "at": "2026-01-01T00:00:00+00:00", "action": "promote", "outcome": "refused", "model": "m",
        "actor": "alice", "reason": "why", "to_version": "3",
    }
    assert versions_by_alias({"champion": "2", "previous-champion": "1", "staging": "2"}) == {
        "2": ["champion", "staging"],
        "1": ["previous-champion"],
    }


@pytest.mark.parametrize("alias", ["staging", "production", "eu-west-2"])
def test_environment_aliases_are_short_lowercase_names(alias):
    check_environment_alias(alias)


@pytest.mark.parametrize("alias", ["champion", "challenger", "previous-champion", "Staging", "2prod", "a" * 33, "st aging"])
def test_lifecycle_aliases_and_odd_names_are_refused_as_environments(alias):
    with pytest.raises(RegistryError) as caught:
        check_environment_alias(alias)
    assert caught.value.code == "E_REGISTRY_ALIAS"
