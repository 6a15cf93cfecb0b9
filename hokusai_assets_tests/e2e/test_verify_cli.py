"""`hokusai verify`, `hokusai keys` and `hokusai prove-row` on a real dry run's output."""

import base64
import json
import shutil
import stat
from pathlib import Path

import pandas as pd
import pytest

from .damaged_files import (
    DAMAGES,
    EXTRA_SIGNATURES,
    UNREADABLE,
    assert_error_line,
    assert_failed_check,
    set_signatures,
)

# One worker builds the module's fixture once (pytest -n 2 --dist loadgroup).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("verify_cli")]


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    from .conftest import hokusai

    home = tmp_path_factory.mktemp("verify-home")
    done = hokusai("run", "--dry-run", home=home)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    return home / "dry-run", Path(outcome["attestation"]).parent, outcome


def copy_of(directory: Path, tmp_path: Path) -> Path:
    target = tmp_path / "attestation"
    shutil.copytree(directory, target)
    return target


def test_valid_attestation_verifies(cli, dry_run, tmp_path):
    _, directory, _ = dry_run
    done = cli("verify", str(directory / "statement.dsse.json"), "--json", home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and [c["name"] for c in report["checks"]][:3] == ["envelope_format", "envelope_signature", "statement_format"]


def test_one_changed_byte_in_the_envelope_is_caught_and_named(cli, dry_run, tmp_path):
    _, directory, _ = dry_run
    copy = copy_of(directory, tmp_path)
    envelope = json.loads((copy / "statement.dsse.json").read_bytes())
    signature = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    signature[10] ^= 1
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(signature)).decode()
    from hokusai_assets.lib.commitments.canonical import canonical_json

    (copy / "statement.dsse.json").write_bytes(canonical_json(envelope))
    done = cli("verify", str(copy), home=tmp_path)
    assert done.returncode == 1 and "envelope_signature failed" in done.stderr


def test_a_changed_metric_fails_even_when_resigned_with_another_key(cli, dry_run, tmp_path):
    _, directory, _ = dry_run
    copy = copy_of(directory, tmp_path)
    statement = json.loads((copy / "statement.json").read_bytes())
    statement["predicate"]["evaluation"]["delta_one_bps"] += 1
    from hokusai_assets.lib.attestation.bundle import AttestationFiles
    from hokusai_assets.lib.attestation.signing import AttesterKeys
    from hokusai_assets.services.attestations import write_attestation

    forger = AttesterKeys(bytes(range(32)), bytes(range(1, 33)))
    write_attestation(AttestationFiles(copy), statement, {}, keys=forger)
    # Against the genuine attester's published keys, the forgery is refused...
    done = cli("verify", str(copy), "--attester", str(directory / "attester.json"), home=tmp_path)
    assert done.returncode == 1 and "envelope_signature failed" in done.stderr
    # ...and even trusting the forger's keys, the arithmetic gives it away.
    done = cli("verify", str(copy), home=tmp_path)
    assert done.returncode == 1 and "bps_rounding failed" in done.stderr


def test_model_and_data_files_are_checked(cli, dry_run, tmp_path):
    home, directory, outcome = dry_run
    model = home / "storage" / "improved_model" / f"{outcome['partition']}.safetensors"
    data = home / "task" / "contribution.csv"
    assert cli("verify", str(directory), "--model", str(model), "--data", str(data), home=tmp_path).returncode == 0
    # Other bytes with the same rows still match: the data root is over rows, not bytes.
    reordered = tmp_path / "reordered.csv"
    pd.read_csv(data).iloc[::-1].to_csv(reordered, index=False)
    assert cli("verify", str(directory), "--data", str(reordered), home=tmp_path).returncode == 0
    # One changed value does not.
    changed = tmp_path / "changed.csv"
    frame = pd.read_csv(data)
    frame.loc[3, "f04"] += 0.0001
    frame.to_csv(changed, index=False)
    done = cli("verify", str(directory), "--data", str(changed), home=tmp_path)
    assert done.returncode == 1 and "data_file failed" in done.stderr


def test_rerun_reproduces_every_number(cli, dry_run, tmp_path):
    home, directory, _ = dry_run
    done = cli("verify", str(directory), "--rerun", "--config", str(home / "task" / "hokusai.yaml"), "--home", str(home), home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("rerun_config", "rerun_inputs", "rerun_models", "rerun_metrics"):
        assert f"ok    {name}:" in done.stdout


def test_prove_row_and_verify_the_proof(cli, dry_run, tmp_path):
    home, directory, _ = dry_run
    row = pd.read_csv(home / "task" / "contribution.csv").iloc[7].to_dict()
    row["label"] = int(row["label"])
    args = ("--config", str(home / "task" / "hokusai.yaml"), "--home", str(home))
    done = cli("prove-row", str(directory), json.dumps(row), *args, home=tmp_path)
    assert done.returncode == 0, done.stderr
    proof = tmp_path / "proof.json"
    proof.write_text(done.stdout)
    assert cli("verify", str(directory), "--proof", str(proof), home=tmp_path).returncode == 0
    forged = json.loads(done.stdout)
    forged["row"]["f01"] += 0.5
    proof.write_text(json.dumps(forged))
    refused = cli("verify", str(directory), "--proof", str(proof), home=tmp_path)
    assert refused.returncode == 1 and "row_proof failed" in refused.stderr
    row["f01"] += 0.5
    missing = cli("prove-row", str(directory), json.dumps(row), *args, home=tmp_path)
    assert missing.returncode == 2 and "E_VERIFY_ROW_NOT_FOUND" in missing.stderr


def test_keys_prints_public_keys_and_creates_private_files(cli, tmp_path):
    done = cli("keys", home=tmp_path)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["attester_address"].startswith("0x") and info["ed25519_keyid"].startswith("ed25519:")
    for name in ("attester-ed25519.key", "attester-secp256k1.key"):
        assert stat.S_IMODE((tmp_path / "keys" / name).stat().st_mode) == 0o600
    again = json.loads(cli("keys", home=tmp_path).stdout)
    assert again == info


def flip_last_byte(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))


@pytest.mark.parametrize(
    "stored, damage, failed",
    [
        # The stored improved model is swapped for the baseline's file: what serving would load.
        (
            "improved_model/{key}.safetensors",
            lambda path, home: path.write_bytes((home / "storage" / "baseline_model.safetensors").read_bytes()),
            "rerun_stored_models",
        ),
        ("baseline_model.safetensors", lambda path, home: flip_last_byte(path), "rerun_stored_models"),
        # One training row dropped from the stored integrated set.
        (
            "integrated_training_set/{key}.parquet",
            lambda path, home: pd.read_parquet(path).iloc[1:].to_parquet(path, index=False),
            "rerun_inputs",
        ),
        ("benchmark_dataset.parquet", lambda path, home: path.unlink(), "rerun_inputs"),
    ],
)
def test_rerun_fails_naming_the_check_when_a_stored_file_was_changed(cli, dry_run, tmp_path, stored, damage, failed):
    home, _, outcome = dry_run
    copy = tmp_path / "home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("mlflow"))
    damage(copy / "storage" / stored.format(key=outcome["partition"]), copy)
    attestation = copy / "attestations" / outcome["partition"]
    config = copy / "task" / "hokusai.yaml"
    done = cli("verify", str(attestation), "--rerun", "--config", str(config), "--home", str(copy), home=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"invalid: {failed} failed" in done.stderr


# --------------------------------------------------------------------------- exactly one signature


@pytest.mark.parametrize(("signatures", "named"), EXTRA_SIGNATURES.items())
def test_an_envelope_with_other_than_the_attesters_one_signature_is_invalid(cli, dry_run, tmp_path, signatures, named):
    _, directory, _ = dry_run
    copy = copy_of(directory, tmp_path)
    ours, other = set_signatures(copy / "statement.dsse.json", signatures)
    done = cli("verify", str(copy), home=tmp_path)
    assert_failed_check(done, "envelope_signature", named.format(ours=ours, other=other))
    assert f"expected exactly one signature, by the trusted key {ours}; the envelope has" in done.stderr
    # The attester's one signature alone (the envelope as published) still verifies.
    shutil.copy(directory / "statement.dsse.json", copy / "statement.dsse.json")
    assert cli("verify", str(copy), home=tmp_path).returncode == 0


# --------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("damaged", ["statement.eip712.json", "statement.dsse.json"])
def test_a_damaged_signed_file_fails_a_check_naming_it(cli, dry_run, tmp_path, damaged, damage):
    _, directory, _ = dry_run
    copy = copy_of(directory, tmp_path)
    DAMAGES[damage](copy / damaged)
    done = cli("verify", str(copy), home=tmp_path)
    if damaged == "statement.dsse.json" and damage in ("missing", "a directory"):
        assert_error_line(done, "E_ATTESTATION_NOT_FOUND", "no statement.dsse.json there")
    else:
        check = "eip712_signature" if damaged == "statement.eip712.json" else "envelope_format"
        assert_failed_check(done, check, damaged)


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("given", ["published", "--attester"])
def test_a_damaged_attester_file_is_one_error_line(cli, dry_run, tmp_path, given, damage):
    _, directory, _ = dry_run
    copy = copy_of(directory, tmp_path)
    attester = copy / "attester.json" if given == "published" else tmp_path / "trusted-attester.json"
    if given == "--attester":
        shutil.copy(copy / "attester.json", attester)
    DAMAGES[damage](attester)
    option = ("--attester", str(attester)) if given == "--attester" else ()
    done = cli("verify", str(copy), *option, home=tmp_path)
    assert_error_line(done, "E_ATTESTATION_ATTESTER", f"{attester}: ")
    assert "pass --attester" in done.stderr


@pytest.fixture(scope="module")
def row_proof(dry_run, tmp_path_factory):
    from .conftest import hokusai

    home, directory, _ = dry_run
    row = pd.read_csv(home / "task" / "contribution.csv").iloc[3].to_dict()
    row["label"] = int(row["label"])
    args = ("--config", str(home / "task" / "hokusai.yaml"), "--home", str(home))
    done = hokusai("prove-row", str(directory), json.dumps(row), *args, home=tmp_path_factory.mktemp("proof"))
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_proof_file_fails_the_row_proof_check_naming_it(cli, dry_run, row_proof, tmp_path, damage):
    _, directory, _ = dry_run
    proof = tmp_path / "proof.json"
    proof.write_text(row_proof)
    DAMAGES[damage](proof)
    assert_failed_check(cli("verify", str(directory), "--proof", str(proof), home=tmp_path), "row_proof", f"{proof}: ")


@pytest.mark.parametrize("damage", DAMAGES)
def test_prove_row_with_a_damaged_statement_is_one_error_line(cli, dry_run, tmp_path, damage):
    home, directory, _ = dry_run
    copy = copy_of(directory, tmp_path)
    DAMAGES[damage](copy / "statement.json")
    args = ("--config", str(home / "task" / "hokusai.yaml"), "--home", str(home))
    done = cli("prove-row", str(copy), "{}", *args, home=tmp_path)
    code = "E_ATTESTATION_FILES" if damage in ("missing", *UNREADABLE) else "E_ATTESTATION_STATEMENT"
    assert_error_line(done, code, f"{copy / 'statement.json'}: ")


@pytest.mark.parametrize(
    ("damage", "code"),
    [
        ("missing", "E_PROOF_ROW"),
        ("a directory", "E_PROOF_ROW"),
        ("truncated", "E_PROOF_ROW"),
        ("not UTF-8", "E_PROOF_ROW"),
        ("a list", "E_PROOF_ROW"),
        ("missing keys", "E_SCHEMA_MISSING_COLUMN"),
        ("empty", "E_PROOF_ROW"),
    ],
)
def test_prove_row_with_a_damaged_row_file_is_one_error_line_naming_it(cli, dry_run, tmp_path, damage, code):
    home, directory, _ = dry_run
    row_file = tmp_path / "row.json"
    row = pd.read_csv(home / "task" / "contribution.csv").iloc[3].to_dict()
    row_file.write_text(json.dumps({**row, "label": int(row["label"])}))
    DAMAGES[damage](row_file)
    args = ("--config", str(home / "task" / "hokusai.yaml"), "--home", str(home))
    assert_error_line(cli("prove-row", str(directory), f"@{row_file}", *args, home=tmp_path), code, f"{row_file}: ")


def test_prove_row_with_damaged_stored_rows_is_one_error_line(cli, dry_run, tmp_path):
    home, directory, outcome = dry_run
    copy = tmp_path / "home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("mlflow"))
    stored = copy / "storage" / "validated_contribution" / f"{outcome['partition']}.parquet"
    stored.write_bytes(stored.read_bytes()[:100])
    row = pd.read_csv(home / "task" / "contribution.csv").iloc[3].to_dict()
    args = ("--config", str(copy / "task" / "hokusai.yaml"), "--home", str(copy))
    done = cli("prove-row", str(directory), json.dumps({**row, "label": int(row["label"])}), *args, home=tmp_path)
    assert_error_line(done, "E_PROOF_NO_ROWS", f"{stored}: ")
