"""Writing an attestation directory (services/attestations.py): canonical, timeless, receipted."""

import json

from hokusai_assets.lib.attestation.bundle import AttestationFiles
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.services.attestations import write_attestation
from hokusai_assets_tests.lib.attestation.test_statement import statement


def test_statement_bytes_are_canonical_and_carry_no_time(tmp_path):
    a, b = AttestationFiles(tmp_path / "a"), AttestationFiles(tmp_path / "b")
    digest_a = write_attestation(a, statement(), {"dagster_run_id": "run-1"})
    digest_b = write_attestation(b, statement(), {"dagster_run_id": "run-2"})
    path_a, path_b = a.statement, b.statement
    assert path_a.read_bytes() == path_b.read_bytes() and digest_a == digest_b
    assert digest_a == bytes_digest(path_a.read_bytes())
    assert b" " not in path_a.read_bytes()  # RFC 8785: no insignificant whitespace
    receipt = json.loads(a.receipt.read_text())
    assert receipt["dagster_run_id"] == "run-1" and receipt["statement_digest"] == digest_a and "written_at" in receipt


def test_any_changed_field_changes_the_digest(tmp_path):
    original = write_attestation(AttestationFiles(tmp_path / "a"), statement(), {})
    changed = write_attestation(AttestationFiles(tmp_path / "b"), statement(seed=2), {})
    assert original != changed
