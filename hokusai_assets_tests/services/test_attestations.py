"""Writing an attestation directory (services/attestations.py): canonical, timeless, receipted,
whole or not at all."""

import json

import pytest

from hokusai_assets.lib.attestation.bundle import (
    ATTESTER_FILE,
    EIP712_FILE,
    ENVELOPE_FILE,
    RECEIPT_FILE,
    STATEMENT_FILE,
    AttestationFiles,
)
from hokusai_assets.lib.attestation.signing import AttesterKeys
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.errors import DiskFullError
from hokusai_assets.services.attestations import write_attestation
from hokusai_assets_tests.lib.attestation.test_statement import statement
from hokusai_assets_tests.small_disk import fill, free_again, left_behind, small_disk


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


def test_a_full_disk_leaves_no_attestation_directory_then_a_retry_writes_it_whole(tmp_path):
    keys = AttesterKeys(b"\1" * 32, b"\x4c" * 32)
    disk = tmp_path / "attestations"
    files = AttestationFiles(disk / "c-0123456789abcdef")
    with small_disk(disk, 64):
        fill(disk, leave_bytes=4096)  # room for the statement, not for its signatures
        with pytest.raises(DiskFullError) as raised:
            write_attestation(files, statement(), {"dagster_run_id": "run-1"}, keys=keys)
        # "Attested" is read from the statement or the envelope being there: neither may be.
        assert not files.directory.exists() and left_behind(disk) == []
        free_again(disk)
        digest = write_attestation(files, statement(), {"dagster_run_id": "run-2"}, keys=keys)
        written = sorted(p.name for p in files.directory.iterdir())
    assert raised.value.code == "E_DISK_FULL"
    assert raised.value.message.startswith(f"no space left on device under {disk} (")
    assert written == sorted([STATEMENT_FILE, ENVELOPE_FILE, EIP712_FILE, ATTESTER_FILE, RECEIPT_FILE])
    assert digest.startswith("sha256:")
