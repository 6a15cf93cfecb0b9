"""Reward epochs on the real graph: contributions evaluated, an epoch closed, verified, proven, reproduced."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from hokusai_assets.entry.runner import close_epoch, evaluate_file
from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.lib.rewards.errors import RewardsError
from hokusai_assets.lib.rewards.payout_tree import verify_payout_proof
from hokusai_assets.lib.samples.mock_task import write_mock_task
from hokusai_assets.services.epoch_files import epoch_files, prove_payout, verify_epoch_files
from hokusai_assets.settings.load import load_settings

WALLETS = (
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
)
POOL = 10**21  # 1000 tokens of 18 decimals: far beyond 2**53
KEYS = {  # one deployment's keys, so two homes sign alike
    "HOKUSAI_PII_KEY": "11" * 32,
    "HOKUSAI_STORE_KEY": "22" * 32,
    "HOKUSAI_ED25519_KEY": "33" * 32,
    "HOKUSAI_ATTESTER_KEY": "44" * 32,
}
# One worker builds the module's epoch once; its tests read it (and one adds a second epoch).
pytestmark = pytest.mark.xdist_group("reward_epochs")
EPOCH_FILES = (
    "statement.json",
    "statement.dsse.json",
    "statement.eip712.json",
    "attester.json",
    "payout-tree.json",
    "report.md",
    "values.png",
)


def rewards_task(directory: Path, rewards: dict | None, tracking: bool = False):
    """The mock task with a rewards section, and its contribution split into three files."""
    task = write_mock_task(directory)
    config = yaml.safe_load(task.config_path.read_text())
    if rewards is not None:
        config["rewards"] = rewards
    config["tracking"] = {"enabled": tracking}
    task.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    rows = pd.read_csv(task.contribution_path)
    parts = []
    for i in range(3):
        path = directory / f"part{i}.csv"
        rows.iloc[i * 150 : (i + 1) * 150].to_csv(path, index=False)
        parts.append(path)
    return task, parts


def evaluated_home(root: Path, tracking: bool = False, rewards: dict | None = None):
    task, parts = rewards_task(root / "task", rewards or {"pool": POOL, "players": 3}, tracking)
    settings = load_settings(config_path=task.config_path, home=root / "home", environ={})
    instance = dg.DagsterInstance.ephemeral()
    for path, wallet in zip(parts, WALLETS):
        evaluate_file(settings, path, Contributor(wallet=wallet), instance=instance, refresh_overview=False)
    return settings, instance


@pytest.fixture(scope="module")
def keys_in_environment():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in KEYS.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def closed(tmp_path_factory, keys_in_environment):
    """Three contributions by three wallets, then the first manual epoch, tracked in MLflow."""
    settings, instance = evaluated_home(tmp_path_factory.mktemp("epoch"), tracking=True)
    outcome = close_epoch(settings, instance=instance)
    yield settings, instance, outcome
    instance.dispose()


def test_closing_an_epoch_pays_the_whole_pool_to_the_three_wallets(closed):
    settings, _, outcome = closed
    assert outcome.epoch == "e-0001"
    assert sorted(outcome.amounts) == sorted(WALLETS)
    assert sum(int(a) for a in outcome.amounts.values()) == POOL == int(outcome.total)
    assert all(int(a) > 0 for a in outcome.amounts.values())
    assert Path(outcome.attestation).is_file()


def test_the_epoch_verifies_from_its_files_and_every_proof_checks(closed):
    settings, _, outcome = closed
    report = verify_epoch_files(epoch_files(Path(outcome.attestation)))
    assert report.ok, report.as_dict()
    for wallet, amount in outcome.amounts.items():
        proof = prove_payout(settings, outcome.epoch, wallet)
        assert proof["amount"] == amount and proof["root"] == outcome.payout_root
        assert verify_payout_proof(outcome.payout_root, wallet, int(amount), proof["proof"])
        assert not verify_payout_proof(outcome.payout_root, wallet, int(amount) + 1, proof["proof"])


def test_statement_records_values_efficiency_and_every_fit(closed):
    settings, _, outcome = closed
    predicate = json.loads(settings.layout.epoch_attestation(outcome.epoch).statement.read_bytes())["predicate"]
    valuation = predicate["valuation"]
    assert valuation["method"] == "exact" and len(predicate["coalitions"]) == 2 ** len(predicate["players"])
    assert abs(valuation["efficiency_gap"]) < 1e-12
    full = next(c for c in predicate["coalitions"] if len(c["players"]) == len(predicate["players"]))
    assert full["model_digest"] == predicate["epoch_model"]["model_digest"]  # the epoch model is U(all)'s model
    assert set(predicate["leave_one_out"]) == {c["partition"] for c in predicate["contributions"]}
    assert predicate["rows"]["count"] == sum(c["rows_kept"] for c in predicate["contributions"]) == 450


def test_the_epoch_is_an_mlflow_run_with_its_files(closed):
    from mlflow.tracking import MlflowClient

    settings, _, outcome = closed
    client = MlflowClient(settings.layout.tracking_uri({}))
    experiment = client.get_experiment_by_name(settings.config.experiment_name)
    [run] = client.search_runs([experiment.experiment_id], "tags.`hokusai.kind` = 'epoch'")
    assert run.data.params["payout_root"] == outcome.payout_root
    assert run.info.status == "FINISHED"
    assert "epoch/statement.dsse.json" in {a.path for a in client.list_artifacts(run.info.run_id, "epoch")}


@pytest.mark.parametrize("tamper", ["amount", "root", "signature", "tree"])
def test_a_tampered_epoch_fails_verification_naming_the_check(closed, tmp_path, tamper):
    import base64
    import shutil

    from hokusai_assets.lib.commitments.canonical import canonical_json

    settings, _, outcome = closed
    copy = tmp_path / "epoch"
    shutil.copytree(settings.layout.epoch_dir(outcome.epoch), copy)
    envelope = json.loads((copy / "statement.dsse.json").read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    wallet = WALLETS[0]
    if tamper == "amount":
        statement["predicate"]["payouts"]["amounts"][wallet] = str(int(outcome.amounts[wallet]) + 1)
        envelope["payload"] = base64.b64encode(canonical_json(statement)).decode()
        expected = "envelope_signature"
    elif tamper == "root":
        eip712 = json.loads((copy / "statement.eip712.json").read_text())
        eip712["message"]["payoutRoot"] = "0x" + "ab" * 32
        (copy / "statement.eip712.json").write_bytes(canonical_json(eip712))
        expected = "eip712_signature"
    elif tamper == "signature":
        envelope["signatures"].append(dict(envelope["signatures"][0]))  # duplicated: exactly one is expected
        expected = "envelope_signature"
    else:
        tree = json.loads((copy / "payout-tree.json").read_text())
        tree["values"][0]["value"][1] = str(int(tree["values"][0]["value"][1]) + 1)
        (copy / "payout-tree.json").write_text(json.dumps(tree))
        expected = "payout_root"
    (copy / "statement.dsse.json").write_bytes(canonical_json(envelope))
    report = verify_epoch_files(epoch_files(copy))
    assert not report.ok
    assert report.first_failure.name == expected, report.as_dict()


def test_rerun_retrains_every_coalition_and_reproduces_values_and_amounts(closed):
    from hokusai_assets.services.epoch_rerun import rerun_epoch_checks

    settings, _, outcome = closed
    statement = json.loads(settings.layout.epoch_attestation(outcome.epoch).statement.read_bytes())
    checks = rerun_epoch_checks(statement, settings)
    assert [c.name for c in checks] == ["rerun_config", "rerun_inputs", "rerun_values", "rerun_payouts"]
    assert all(c.ok for c in checks), checks


def test_a_second_epoch_pays_nothing_for_near_copies_of_rows_an_earlier_epoch_paid_for(closed, tmp_path):
    settings, instance, first = closed
    old = pd.read_csv(settings.config_path.parent / "part0.csv")
    path = tmp_path / "again.csv"
    # Not byte-equal rows (intake's exact deduplication lets them through), but equal at 6 decimals.
    old.iloc[:100].assign(f01=old["f01"].iloc[:100] + 1e-9).to_csv(path, index=False)
    evaluate_file(settings, path, Contributor(wallet=WALLETS[1]), instance=instance, refresh_overview=False)
    second = close_epoch(settings, instance=instance)
    predicate = json.loads(settings.layout.epoch_attestation(second.epoch).statement.read_bytes())["predicate"]
    assert second.epoch == "e-0002"
    [member] = predicate["contributions"]  # e-0001's members stay in e-0001
    assert (member["rows_received"], member["rows_known"], member["rows_kept"]) == (100, 100, 0)
    assert second.payout_root is None and second.total == "0" and second.amounts == {WALLETS[1]: "0"}
    assert verify_epoch_files(epoch_files(Path(second.attestation))).ok


def test_two_fresh_homes_give_the_same_root_and_byte_identical_epoch_files(closed, tmp_path, keys_in_environment):
    settings, _, outcome = closed
    other, instance = evaluated_home(tmp_path)  # no MLflow this time: tracking changes no number
    with instance:
        again = close_epoch(other, instance=instance)
    assert again.payout_root == outcome.payout_root
    for name in EPOCH_FILES:
        first = settings.layout.epoch_dir("e-0001") / name
        assert (other.layout.epoch_dir("e-0001") / name).read_bytes() == first.read_bytes(), name


def test_without_a_rewards_section_nothing_is_closed_and_nothing_paid(tmp_path, keys_in_environment):
    task, _ = rewards_task(tmp_path / "task", rewards=None)
    settings = load_settings(config_path=task.config_path, home=tmp_path / "home", environ={})
    with pytest.raises(RewardsError) as error:
        close_epoch(settings)
    assert error.value.code == "E_REWARDS_NOT_CONFIGURED"
    assert not (tmp_path / "home" / "epochs").exists()


def test_the_daily_schedule_closes_yesterday_and_requests_its_run(tmp_path, keys_in_environment):
    from hokusai_assets.defs.definitions import build_definitions
    from hokusai_assets.defs.resources import HokusaiResource

    task, _ = rewards_task(tmp_path / "task", rewards={"pool": 100, "epoch": "daily", "players": 2})
    settings = load_settings(config_path=task.config_path, home=tmp_path / "home", environ={})
    defs = build_definitions(settings)
    schedule = defs.resolve_schedule_def("daily_reward_epoch")
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 12, 2, 0, 15, tzinfo=timezone.utc),
            resources={"hokusai": HokusaiResource(config_path=str(settings.config_path), home=str(settings.home))},
            repository_def=defs.get_repository_def(),
        )
        [request] = list(schedule.evaluate_tick(context).run_requests)
        assert request.partition_key == "d-2026-12-01"
        assert "d-2026-12-01" in instance.get_dynamic_partitions("reward_epochs")
    window = json.loads(settings.layout.epoch_window_file("d-2026-12-01").read_text())
    assert window["day"] == "2026-12-01" and window["mode"] == "daily"
    manual = load_settings(
        config_path=rewards_task(tmp_path / "m", {"pool": 1})[0].config_path, home=tmp_path / "h2", environ={}
    )
    assert not build_definitions(manual).schedules  # manual epochs have no schedule


def test_invalid_rewards_config_is_refused_naming_the_key(tmp_path):
    from hokusai_assets.lib.errors import ConfigError

    for rewards, key in (
        ({"players": 3}, "rewards.pool"),
        ({"pool": -1}, "rewards.pool"),
        ({"pool": 1, "players": 12, "exact_max": 12}, "max_fits"),
    ):
        task, _ = rewards_task(tmp_path / key.replace(".", "_"), rewards)
        with pytest.raises(ConfigError) as error:
            load_settings(config_path=task.config_path, home=tmp_path / "home", environ={})
        assert key in error.value.message


def test_environment_keys_are_restored(keys_in_environment):
    assert os.environ["HOKUSAI_ATTESTER_KEY"] == KEYS["HOKUSAI_ATTESTER_KEY"]


def test_an_epoch_closed_but_never_attested_is_finished_before_another_opens(tmp_path, keys_in_environment):
    from hokusai_assets.services.epochs import close_window

    task, _ = rewards_task(tmp_path / "task", rewards={"pool": 100})
    settings = load_settings(config_path=task.config_path, home=tmp_path / "home", environ={})
    first = close_window(settings)  # written, then (say) the run failed: no attestation
    again = close_window(settings, now=datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert again.epoch == first.epoch == "e-0001"  # not e-0002 beside it ...
    assert again.received_before > first.received_before  # ... and what arrived since may join


def test_an_epoch_with_no_contributions_closes_pays_nothing_and_verifies(tmp_path, keys_in_environment):
    task, _ = rewards_task(tmp_path / "task", rewards={"pool": 100, "players": 2})
    settings = load_settings(config_path=task.config_path, home=tmp_path / "home", environ={})
    with dg.DagsterInstance.ephemeral() as instance:
        outcome = close_epoch(settings, instance=instance)
    assert (outcome.epoch, outcome.payout_root, outcome.total, outcome.amounts) == ("e-0001", None, "0", {})
    assert verify_epoch_files(epoch_files(Path(outcome.attestation))).ok
    assert not (settings.layout.epoch_dir("e-0001") / "payout-tree.json").exists()


def test_membership_is_fixed_on_the_first_run(closed):
    settings, _, outcome = closed
    members = json.loads(settings.layout.epoch_members_file("e-0001").read_text())["contributions"]
    predicate = json.loads(settings.layout.epoch_attestation("e-0001").statement.read_bytes())["predicate"]
    assert members == [c["partition"] for c in predicate["contributions"]] and len(members) == 3


def test_the_ui_shows_the_values_table_and_chart_and_a_passed_check(closed):
    _, instance, outcome = closed
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("epoch_attestation"), asset_partitions=[outcome.epoch]), limit=1
    ).records
    metadata = records[0].asset_materialization.metadata
    markdown = metadata["values"].value
    assert "| wallet | rows kept | value (share of positive players) | standard error | amount |" in markdown
    assert all(f"`{wallet}`" in markdown for wallet in outcome.amounts)
    assert "![values](data:image/png;base64,iVBORw0KGgo" in markdown  # a PNG, inline
    assert metadata["payout_root"].value == outcome.payout_root
    key = dg.AssetCheckKey(dg.AssetKey("epoch_attestation"), "epoch_attestation_verified")
    history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
    [record] = [r for r in history if r.partition == outcome.epoch]
    assert record.status.value == "SUCCEEDED"


def test_rerun_under_another_config_says_so_instead_of_differing(closed):
    from hokusai_assets.services.epoch_rerun import rerun_epoch_checks

    settings, _, outcome = closed
    config = yaml.safe_load(settings.config_path.read_text())
    config["rewards"]["pool"] += 1
    other = settings.config_path.with_name("other-pool.yaml")
    other.write_text(yaml.safe_dump(config))
    statement = json.loads(settings.layout.epoch_attestation(outcome.epoch).statement.read_bytes())
    [check] = rerun_epoch_checks(statement, load_settings(config_path=other, home=settings.home, environ={}))
    assert check.name == "rerun_config" and not check.ok and "producing --config" in check.detail


def test_a_sampled_epoch_verifies_and_its_orders_must_be_the_seeds(tmp_path, keys_in_environment):
    import base64

    from hokusai_assets.lib.attestation.signing import AttesterKeys
    from hokusai_assets.lib.commitments.canonical import canonical_json
    from hokusai_assets.lib.rewards.signing import sign_epoch

    rewards = {"pool": POOL, "players": 4, "exact_max": 2, "max_fits": 14, "seed": 3}
    settings, instance = evaluated_home(tmp_path, rewards=rewards)
    with instance:
        outcome = close_epoch(settings, instance=instance)
    files = settings.layout.epoch_attestation(outcome.epoch)
    report = verify_epoch_files(files)
    statement = report.statement
    valuation = statement["predicate"]["valuation"]
    assert report.ok, report.as_dict()
    loo = statement["predicate"]["leave_one_out"]
    assert valuation["method"] == "truncated_monte_carlo"
    assert valuation["fits"] + sum(entry is not None for entry in loo.values()) <= 14  # leave-one-out gets what is left
    assert len(loo) == 3
    assert valuation["permutations"] >= 2 and all(
        p["standard_error"] is not None for p in statement["predicate"]["players"]
    )
    # Re-signed by the attester itself, but with cherry-picked orders: still refused.
    valuation["orders"] = [list(reversed(o)) for o in valuation["orders"]]
    keys = AttesterKeys(bytes.fromhex(KEYS["HOKUSAI_ED25519_KEY"]), bytes.fromhex(KEYS["HOKUSAI_ATTESTER_KEY"]))
    signed = sign_epoch(statement, keys, settings.config.attestation.eip712.domain())
    files.envelope.write_bytes(signed.envelope_bytes)
    files.eip712.write_bytes(canonical_json(signed.eip712))
    tampered = verify_epoch_files(files)
    assert tampered.first_failure.name == "values" and "seed 3 gives" in tampered.first_failure.detail
    assert json.loads(base64.b64decode(json.loads(files.envelope.read_bytes())["payload"]))["predicate"]["valuation"][
        "orders"
    ]


def test_a_published_epoch_is_never_re_signed_with_other_numbers(closed, tmp_path):
    import shutil

    from hokusai_assets.lib.attestation.signing import AttesterKeys
    from hokusai_assets.services.epoch_files import attest_epoch

    settings, _, outcome = closed
    copy = tmp_path / "e-0001"
    shutil.copytree(settings.layout.epoch_dir(outcome.epoch), copy)
    statement = json.loads((copy / "statement.json").read_bytes())
    keys = AttesterKeys(bytes.fromhex(KEYS["HOKUSAI_ED25519_KEY"]), bytes.fromhex(KEYS["HOKUSAI_ATTESTER_KEY"]))
    domain = settings.config.attestation.eip712.domain()
    _, report = attest_epoch(copy, statement, {}, keys, domain, receipt={})  # the same numbers: fine
    assert report.ok
    statement["predicate"]["rewards"]["pool"] = str(POOL + 1)
    with pytest.raises(RewardsError) as error:
        attest_epoch(copy, statement, {}, keys, domain, receipt={})
    assert error.value.code == "E_EPOCH_PUBLISHED"


def test_a_second_close_while_one_runs_is_refused(closed):
    from hokusai_assets.services.epochs import closing

    settings, instance, _ = closed
    with closing(settings):
        with pytest.raises(RewardsError) as error:
            close_epoch(settings, instance=instance)
    assert error.value.code == "E_EPOCH_BUSY"
