import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from hokusai_assets.lib.samples.mock_task import mock_wallet
from hokusai_assets.settings.load import BUNDLED_CONFIG
from hokusai_assets_tests.defs.test_definitions import CONTRIBUTION_JOBS

pytestmark = pytest.mark.e2e

EXAMPLE_CONTRIBUTION = BUNDLED_CONFIG.parent / "contribution.csv"


# Fixed attester keys, so that two fresh homes sign with the same keys.
SAME_KEYS = {"HOKUSAI_ED25519_KEY": "01" * 32, "HOKUSAI_ATTESTER_KEY": "4c" * 32}


def test_dry_run_is_byte_identical_in_two_fresh_homes(cli, tmp_path):
    outputs = []
    for name in ("home-a", "home-b"):
        done = cli("run", "--dry-run", home=tmp_path / name, env=SAME_KEYS)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.strip().splitlines()
        assert len(lines) == 1, "the dry run prints exactly one JSON object"
        outputs.append(json.loads(lines[0]))
    first, second = outputs
    assert set(first) >= {"partition", "delta_one_score", "accepted", "attestation"}
    assert first["partition"] == second["partition"] and first["partition"].startswith("c-")
    assert first["accepted"] is True and first["delta_one_score"] > 0
    a, b = Path(first["attestation"]).parent, Path(second["attestation"]).parent
    assert a != b
    for name in ("statement.json", "statement.dsse.json", "statement.eip712.json", "attester.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "receipt.json").read_bytes() != (b / "receipt.json").read_bytes()  # times and run ids live here
    statement = json.loads((a / "statement.json").read_bytes())
    assert statement["predicate"]["contribution"]["wallet"] == mock_wallet()


def test_dry_run_twice_in_one_home_reuses_the_partition(cli, tmp_path):
    first = json.loads(cli("run", "--dry-run", home=tmp_path).stdout)
    second = json.loads(cli("run", "--dry-run", home=tmp_path).stdout)
    assert second["reused"] and second["attestation"] == first["attestation"]


def test_evaluate_the_bundled_example_on_the_persistent_instance(cli, tmp_path):
    wallet = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    done = cli("evaluate", str(EXAMPLE_CONTRIBUTION), "--wallet", wallet, home=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["accepted"] is True and result["delta_one_score"] > 0.01
    statement = json.loads(Path(result["attestation"]).with_name("statement.json").read_bytes())
    deltas = statement["predicate"]["evaluation"]["metric_deltas"]
    assert deltas["accuracy"]["new_value"] > deltas["accuracy"]["baseline_value"] + 0.03
    # The runs are in the SQLite instance under HOKUSAI_HOME, where `dagster dev` shows them.
    assert (tmp_path / "dagster" / "history" / "runs.db").is_file()
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        assert instance.get_latest_materialization_event(dg.AssetKey("attestation")) is not None
        assert result["partition"] in instance.get_dynamic_partitions("contributions")
        runs = instance.get_runs()
        # The contributions table is refreshed after the evaluation, as the sensors do under the daemon.
        assert {run.job_name for run in runs} == CONTRIBUTION_JOBS


def assert_clean_failure(done, home: Path, code: str, *fragments: str, quarantined: Path | None = None):
    """One error line; nothing under ``home``, or only ``quarantined``'s copy and its reason."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error[{code}]: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert done.stdout == ""
    if quarantined is None:
        assert not home.exists(), "nothing may be written for a rejected input"
        return
    left = sorted(p.relative_to(home) for p in home.rglob("*") if p.is_file())
    assert [p.parent for p in left] == [Path("quarantine")] * 2, left
    copy, reason = (home / p for p in left) if left[1].name.endswith(".reason.json") else (home / p for p in reversed(left))
    assert copy.read_bytes() == quarantined.read_bytes()
    assert json.loads(reason.read_text())["code"] == code


WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def test_missing_config(cli, tmp_path):
    home = tmp_path / "home"
    done = cli("evaluate", str(EXAMPLE_CONTRIBUTION), "--wallet", WALLET, home=home, env={"HOKUSAI_CONFIG_PATH": str(tmp_path / "nope.yaml")})
    assert_clean_failure(done, home, "E_CONFIG_MISSING", "nope.yaml")


def test_malformed_config(cli, tmp_path):
    home = tmp_path / "home"
    config = tmp_path / "hokusai.yaml"
    config.write_text("task: {name: x\n")
    done = cli("evaluate", str(EXAMPLE_CONTRIBUTION), "--wallet", WALLET, "--config", str(config), home=home)
    assert_clean_failure(done, home, "E_CONFIG_SYNTAX", "hokusai.yaml")


def test_missing_baseline_file(cli, tmp_path):
    home = tmp_path / "home"
    config = tmp_path / "hokusai.yaml"
    config.write_text(BUNDLED_CONFIG.read_text().replace("baseline_data: baseline.csv", "baseline_data: gone.csv"))
    for name in ("benchmark.csv",):
        (tmp_path / name).write_bytes((BUNDLED_CONFIG.parent / name).read_bytes())
    done = cli("evaluate", str(EXAMPLE_CONTRIBUTION), "--wallet", WALLET, "--config", str(config), home=home)
    assert_clean_failure(done, home, "E_CONFIG_DATA_MISSING", "gone.csv", "task.baseline_data")


def test_contribution_without_label(cli, tmp_path):
    home = tmp_path / "home"
    no_label = tmp_path / "no_label.csv"
    pd.read_csv(EXAMPLE_CONTRIBUTION).drop(columns=["digit"]).to_csv(no_label, index=False)
    done = cli("evaluate", str(no_label), "--wallet", WALLET, home=home)
    assert_clean_failure(done, home, "E_SCHEMA_MISSING_COLUMN", "no_label.csv", "'digit'", quarantined=no_label)


def test_unknown_file_format(cli, tmp_path):
    home = tmp_path / "home"
    odd = tmp_path / "contribution.xlsx"
    odd.write_bytes(EXAMPLE_CONTRIBUTION.read_bytes())
    done = cli("evaluate", str(odd), "--wallet", WALLET, home=home)
    assert_clean_failure(done, home, "E_FORMAT_UNSUPPORTED", "contribution.xlsx", ".parquet")


def test_bad_wallet(cli, tmp_path):
    home = tmp_path / "home"
    done = cli("evaluate", str(EXAMPLE_CONTRIBUTION), "--wallet", WALLET.lower(), home=home)
    assert_clean_failure(done, home, "E_WALLET_NO_CHECKSUM", WALLET)


def test_run_without_dry_run_explains_itself(cli, tmp_path):
    done = cli("run", home=tmp_path / "home")
    assert done.returncode != 0 and "hokusai evaluate" in done.stderr


def test_a_file_the_intake_rejects_leaves_only_its_quarantine_copy(cli, tmp_path):
    # Rejections after the schema fits (an unknown label, copies of the benchmark) are found
    # before anything is stored: no store entry, no partition, no run, no table.
    home = tmp_path / "home"
    bad_labels = tmp_path / "bad_labels.csv"
    frame = pd.read_csv(EXAMPLE_CONTRIBUTION)
    frame.loc[:4, "digit"] = 42  # a class the task does not have
    frame.to_csv(bad_labels, index=False)
    done = cli("evaluate", str(bad_labels), "--wallet", WALLET, home=home)
    assert_clean_failure(
        done, home, "E_SCHEMA_UNKNOWN_LABEL", "check schema_valid", "valid labels are 0, 1", quarantined=bad_labels
    )

    home = tmp_path / "home2"
    leaked = tmp_path / "benchmark_rows.csv"
    leaked.write_bytes((BUNDLED_CONFIG.parent / "benchmark.csv").read_bytes())
    done = cli("evaluate", str(leaked), "--wallet", WALLET, home=home)
    assert_clean_failure(done, home, "E_INTAKE_BENCHMARK_LEAKAGE", "check no_benchmark_leakage", quarantined=leaked)


def test_workspace_loads_as_dagster_dev_would(tmp_path):
    import os
    import subprocess
    import sys

    dagster = Path(sys.executable).with_name("dagster")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_"))}
    env.update(HOKUSAI_HOME=str(tmp_path), DAGSTER_HOME=str(tmp_path))
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_submit_places_file_and_sidecar_in_the_inbox(cli, tmp_path):
    home = tmp_path / "home"
    done = cli("submit", str(EXAMPLE_CONTRIBUTION), "--wallet", WALLET, "--contributor-id", "lab-7", home=home)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    inbox_file = Path(result["inbox_file"])
    assert inbox_file.parent == home / "inbox" and inbox_file.read_bytes() == EXAMPLE_CONTRIBUTION.read_bytes()
    sidecar = json.loads(Path(result["sidecar"]).read_text())
    assert sidecar == {"wallet": WALLET, "contributor_id": "lab-7", "license": None, "file_digest": result["file_digest"]}
    assert sorted(p.name for p in (home / "inbox").iterdir()) == sorted([inbox_file.name, inbox_file.name + ".contributor.json"])


def test_submit_refuses_a_bad_wallet_and_writes_nothing(cli, tmp_path):
    home = tmp_path / "home"
    done = cli("submit", str(EXAMPLE_CONTRIBUTION), "--wallet", WALLET[:-1] + "0", home=home)
    assert_clean_failure(done, home, "E_WALLET_CHECKSUM")


def test_validate_exit_codes_and_json_report(cli, tmp_path):
    home = tmp_path / "home"
    accepted = cli("validate", str(EXAMPLE_CONTRIBUTION), "--json", home=home)
    assert accepted.returncode == 0, accepted.stderr
    report = json.loads(accepted.stdout)
    assert report["accepted"] and set(report["checks"]) == {
        "schema_valid", "no_cleartext_pii", "quality_above_minimum", "no_benchmark_leakage", "duplicate_share"
    }
    assert not home.exists(), "validate writes nothing"
    copied = tmp_path / "benchmark_copy.csv"
    copied.write_bytes((BUNDLED_CONFIG.parent / "benchmark.csv").read_bytes())
    rejected = cli("validate", str(copied), home=home)
    assert rejected.returncode == 2
    assert "FAIL  no_benchmark_leakage" in rejected.stdout
    assert rejected.stderr.strip().startswith("error[E_INTAKE_BENCHMARK_LEAKAGE]: ")


def test_a_random_forest_dry_run_is_byte_identical_and_reruns(cli, tmp_path):
    """A tree family through the whole graph: same bytes in two fresh homes, and
    `hokusai verify --rerun` retrains both forests to the attested bytes."""
    outputs = []
    for name in ("home-a", "home-b"):
        done = cli("run", "--dry-run", "--model", "random_forest", home=tmp_path / name, env=SAME_KEYS)
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))
    a, b = (Path(output["attestation"]).parent for output in outputs)
    assert (a / "statement.json").read_bytes() == (b / "statement.json").read_bytes()
    assert a.parents[1].name == "dry-run-random_forest"  # apart from the default model's dry run
    statement = json.loads((a / "statement.json").read_bytes())
    home = a.parents[1]
    done = cli("verify", str(a), "--rerun", "--config", str(home / "task" / "hokusai.yaml"), "--home", str(home),
               home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok    rerun_models:" in done.stdout
    default = json.loads(cli("run", "--dry-run", home=tmp_path / "home-a", env=SAME_KEYS).stdout)
    default_statement = json.loads((Path(default["attestation"]).parent / "statement.json").read_bytes())
    assert default_statement["subject"] != statement["subject"]  # another improved model digest


def test_a_dry_run_model_must_be_a_model_name(cli, tmp_path):
    done = cli("run", "--dry-run", "--model", "../elsewhere", home=tmp_path)
    assert done.returncode == 2 and "is not a model name" in done.stderr and "Traceback" not in done.stderr
