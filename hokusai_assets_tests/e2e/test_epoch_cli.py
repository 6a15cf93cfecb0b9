"""`hokusai epoch close`, `hokusai verify-epoch` and `hokusai prove-payout` as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hokusai_assets.lib.rewards.payout_tree import verify_payout_proof
from hokusai_assets_tests.defs.test_rewards import KEYS, WALLETS, rewards_task

pytestmark = pytest.mark.e2e
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


@pytest.mark.parametrize("damaged", ["statement.eip712.json", "attester.json", "payout-tree.json"])
def test_a_truncated_epoch_file_is_an_error_not_a_traceback(cli, closed, tmp_path, damaged):
    _, home, _ = closed
    copy = tmp_path / "e-0001"
    shutil.copytree(home / "epochs" / "e-0001", copy)
    (copy / damaged).write_bytes((copy / damaged).read_bytes()[:40])
    done = cli("verify-epoch", str(copy), home=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("error[E_EPOCH_FILES]: ")
    assert f"/{damaged}: " in done.stderr and "is not readable JSON" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_a_rewards_section_close_refuses_and_writes_nothing(cli, tmp_path):
    task, _ = rewards_task(tmp_path / "task", rewards=None)
    done = cli("epoch", "close", "--config", str(task.config_path), home=tmp_path / "home")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("error[E_REWARDS_NOT_CONFIGURED]: ")
    assert not (tmp_path / "home" / "epochs").exists()
    assert not Path(tmp_path / "home" / "dagster").exists()
