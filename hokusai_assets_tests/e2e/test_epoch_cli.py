"""`hokusai epoch close`, `hokusai verify-epoch` and `hokusai prove-payout` as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hokusai_assets.lib.rewards.payout_tree import verify_payout_proof
from hokusai_assets_tests.defs.test_rewards import KEYS, WALLETS, rewards_task
from hokusai_assets_tests.e2e.damaged_files import (
    DAMAGES,
    EXTRA_SIGNATURES,
    UNREADABLE,
    assert_error_line,
    assert_failed_check,
    set_signatures,
)

# One worker builds the module's fixture once (pytest -n 2 --dist loadgroup).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("epoch_cli")]
POOL = 10**21


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    from .conftest import hokusai

    root = tmp_path_factory.mktemp("epoch-cli")
    task, parts = rewards_task(root / "task", {"pool": POOL, "players": 2})
    home = root / "home"
    for path, wallet in list(zip(parts, WALLETS))[:2]:
        done = hokusai(
            "evaluate", str(path), "--wallet", wallet, "--config", str(task.config_path), home=home, env=KEYS
        )
        assert done.returncode == 0, done.stderr
    done = hokusai("epoch", "close", "--json", "--config", str(task.config_path), home=home, env=KEYS)
    assert done.returncode == 0, done.stderr
    assert "valued 4/4 coalitions" in done.stderr  # progress on stderr; stdout stays one JSON object
    return task, home, json.loads(done.stdout)


def test_close_prints_the_epoch_its_root_its_attestation_and_every_amount(closed):
    _, home, outcome = closed
    assert outcome["epoch"] == "e-0001"
    assert outcome["attestation"] == str(home / "epochs" / "e-0001" / "statement.dsse.json")
    assert sorted(outcome["amounts"]) == sorted(WALLETS[:2])
    assert sum(int(a) for a in outcome["amounts"].values()) == POOL
    assert outcome["payout_root"].startswith("0x") and len(outcome["payout_root"]) == 66


def test_verify_epoch_and_its_rerun_pass(cli, closed):
    task, home, outcome = closed
    done = cli(
        "verify-epoch",
        outcome["attestation"],
        "--rerun",
        "--json",
        "--config",
        str(task.config_path),
        home=home,
        env=KEYS,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    names = [check["name"] for check in report["checks"]]
    assert report["ok"] and names[-4:] == ["rerun_config", "rerun_inputs", "rerun_values", "rerun_payouts"]


def test_prove_payout_gives_a_proof_the_root_accepts(cli, closed):
    task, home, outcome = closed
    wallet = WALLETS[1]
    done = cli("prove-payout", "e-0001", wallet, "--json", "--config", str(task.config_path), home=home)
    assert done.returncode == 0, done.stderr
    proof = json.loads(done.stdout)
    assert proof["amount"] == outcome["amounts"][wallet] and proof["root"] == outcome["payout_root"]
    assert verify_payout_proof(proof["root"], wallet, int(proof["amount"]), proof["proof"])


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("prove-payout", "e-0001", WALLETS[2]), "E_PAYOUT_NOT_PAID"),
        (("prove-payout", "e-0009", WALLETS[0]), "E_EPOCH_NOT_FOUND"),
        (("prove-payout", "../e-0001", WALLETS[0]), "E_EPOCH_ID"),
        (("verify-epoch", "/nonexistent"), "E_EPOCH_NOT_FOUND"),
    ],
)
def test_bad_requests_get_one_error_line_and_exit_2(cli, closed, args, code):
    task, home, _ = closed
    done = cli(*args, "--config", str(task.config_path), home=home)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"error[{code}]: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def _copy_of_epoch(home: Path, tmp_path: Path) -> Path:
    """A home holding a copy of e-0001 alone: enough for verify-epoch and prove-payout."""
    copy = tmp_path / "home" / "epochs" / "e-0001"
    shutil.copytree(home / "epochs" / "e-0001", copy)
    return copy


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("damaged", ["statement.eip712.json", "attester.json", "payout-tree.json", "statement.dsse.json"])
def test_a_damaged_epoch_file_is_a_failed_check_or_one_error_line_naming_it(cli, closed, tmp_path, damaged, damage):
    _, home, _ = closed
    copy = _copy_of_epoch(home, tmp_path)
    DAMAGES[damage](copy / damaged)
    done = cli("verify-epoch", str(copy), home=tmp_path)
    if damaged == "statement.dsse.json":
        if damage in ("missing", "a directory"):
            assert_error_line(done, "E_EPOCH_NOT_FOUND", "no statement.dsse.json there")
        else:
            assert_failed_check(done, "envelope_format", damaged)
    elif damaged == "attester.json" or damage in UNREADABLE:
        # No JSON to read, or keys nobody can check against: the epoch cannot be verified as asked.
        assert_error_line(done, "E_EPOCH_FILES", f"/{damaged}: ")
        if damage in UNREADABLE and damage != "a directory":
            assert "is not readable JSON" in done.stderr
    else:  # missing, or JSON of the wrong shape: the epoch is not what was signed
        assert_failed_check(done, "eip712_signature" if damaged == "statement.eip712.json" else "payout_root", damaged)


@pytest.mark.parametrize("damaged", ["statement.eip712.json", "attester.json", "payout-tree.json"])
def test_prove_payout_from_a_damaged_epoch_is_one_error_line(cli, closed, tmp_path, damaged):
    task, home, _ = closed
    copy = _copy_of_epoch(home, tmp_path)
    DAMAGES["truncated"](copy / damaged)
    done = cli("prove-payout", "e-0001", WALLETS[0], "--config", str(task.config_path), home=tmp_path / "home")
    assert_error_line(done, "E_EPOCH_FILES", f"/{damaged}: ")
    (copy / damaged).unlink()
    done = cli("prove-payout", "e-0001", WALLETS[0], "--config", str(task.config_path), home=tmp_path / "home")
    code = "E_EPOCH_FILES" if damaged == "attester.json" else "E_EPOCH_INVALID"
    assert_error_line(done, code, f"/{damaged}: ")


@pytest.mark.parametrize(("signatures", "named"), EXTRA_SIGNATURES.items())
def test_an_epoch_envelope_with_other_than_the_attesters_one_signature_is_invalid(
    cli, closed, tmp_path, signatures, named
):
    _, home, _ = closed
    copy = _copy_of_epoch(home, tmp_path)
    ours, other = set_signatures(copy / "statement.dsse.json", signatures)
    assert_failed_check(cli("verify-epoch", str(copy), home=tmp_path), "envelope_signature", named.format(ours=ours, other=other))
    shutil.copy(home / "epochs" / "e-0001" / "statement.dsse.json", copy / "statement.dsse.json")
    assert cli("verify-epoch", str(copy), home=tmp_path).returncode == 0


def test_rerun_on_damaged_stored_rows_fails_rerun_inputs(cli, closed, tmp_path):
    task, home, _ = closed
    copy = tmp_path / "home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("mlflow", "dagster"))
    stored = copy / "storage" / "epoch_rows" / "e-0001.parquet"
    stored.write_bytes(stored.read_bytes()[:100])
    args = ("--rerun", "--config", str(task.config_path), "--home", str(copy))
    done = cli("verify-epoch", str(copy / "epochs" / "e-0001"), *args, home=copy, env=KEYS)
    assert_failed_check(done, "rerun_inputs", "cannot be read")


def test_without_a_rewards_section_close_refuses_and_writes_nothing(cli, tmp_path):
    task, _ = rewards_task(tmp_path / "task", rewards=None)
    done = cli("epoch", "close", "--config", str(task.config_path), home=tmp_path / "home")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("error[E_REWARDS_NOT_CONFIGURED]: ")
    assert not (tmp_path / "home" / "epochs").exists()
    assert not Path(tmp_path / "home" / "dagster").exists()
